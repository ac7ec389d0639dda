CREATE TABLE `sweep_rungs` (
	`sweep_id` text NOT NULL,
	`rung` integer NOT NULL,
	`run_id` text NOT NULL,
	`step` integer NOT NULL,
	`value` real NOT NULL,
	`rank` integer NOT NULL,
	`n` integer NOT NULL,
	`keep` integer NOT NULL,
	`continued` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`sweep_id`, `rung`, `run_id`)
);
--> statement-breakpoint
ALTER TABLE `sweeps` ADD `done_at` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_sweep_index_idx` ON `runs` (`sweep_id`,`sweep_index`);