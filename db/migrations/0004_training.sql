CREATE TABLE `reward_batches` (
	`run_id` text NOT NULL,
	`step` integer NOT NULL,
	`batch_key` text NOT NULL,
	`samples` integer NOT NULL,
	`valid` integer NOT NULL,
	`score_sum` real NOT NULL,
	`score_sum_sq` real NOT NULL,
	`groups` integer NOT NULL,
	`zero_std_groups` integer NOT NULL,
	`sub_scores` text NOT NULL,
	`latency_p50` real NOT NULL,
	`latency_p99` real NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `step`, `batch_key`)
);
--> statement-breakpoint
CREATE TABLE `sweeps` (
	`id` text PRIMARY KEY NOT NULL,
	`experiment_id` text NOT NULL,
	`name` text,
	`spec` text NOT NULL,
	`metric` text NOT NULL,
	`mode` text NOT NULL,
	`backend` text NOT NULL,
	`job_id` text,
	`error` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sweeps_experiment_idx` ON `sweeps` (`experiment_id`,`created_at`);--> statement-breakpoint
ALTER TABLE `runs` ADD `sweep_index` integer;