CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`prefix` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_unique` ON `api_keys` (`hash`);--> statement-breakpoint
CREATE INDEX `api_keys_created_idx` ON `api_keys` (`created_at`);--> statement-breakpoint
CREATE TABLE `datasets` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text,
	`sha256` text NOT NULL,
	`rows` integer NOT NULL,
	`bytes` integer NOT NULL,
	`train_rows` integer NOT NULL,
	`holdout_rows` integer NOT NULL,
	`holdout_fraction` real NOT NULL,
	`object_key` text NOT NULL,
	`train_key` text NOT NULL,
	`holdout_key` text NOT NULL,
	`stats` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `artifacts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`kind` text NOT NULL,
	`uri` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `artifacts_run_kind_uri_idx` ON `artifacts` (`run_id`,`kind`,`uri`);--> statement-breakpoint
CREATE TABLE `experiments` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`description` text,
	`tags` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `experiments_created_idx` ON `experiments` (`created_at`);--> statement-breakpoint
CREATE TABLE `metrics` (
	`run_id` text NOT NULL,
	`name` text NOT NULL,
	`step` integer NOT NULL,
	`value` real NOT NULL,
	`ts` integer NOT NULL,
	PRIMARY KEY(`run_id`, `name`, `step`)
);
--> statement-breakpoint
CREATE TABLE `run_status_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `run_status_history_run_idx` ON `run_status_history` (`run_id`,`id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`experiment_id` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`name` text,
	`params` text NOT NULL,
	`spec` text,
	`dataset_id` text,
	`dataset_sha256` text,
	`base_model` text,
	`grader_ref` text,
	`backend` text,
	`parent_run_id` text,
	`sweep_id` text,
	`summary` text,
	`stop_requested` integer DEFAULT false NOT NULL,
	`stop_reason` text,
	`error` text,
	`job_id` text,
	`token_hash` text,
	`heartbeat_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`experiment_id`) REFERENCES `experiments`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `runs_experiment_idx` ON `runs` (`experiment_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `runs_status_idx` ON `runs` (`status`);--> statement-breakpoint
CREATE INDEX `runs_sweep_idx` ON `runs` (`sweep_id`);