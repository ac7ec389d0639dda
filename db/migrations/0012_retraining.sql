CREATE TABLE `champion_history` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`experiment_id` text NOT NULL,
	`run_id` text NOT NULL,
	`reason` text NOT NULL,
	`cycle_id` text,
	`since` integer NOT NULL,
	`until` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `champion_current_idx` ON `champion_history` (`experiment_id`) WHERE until is null;--> statement-breakpoint
CREATE INDEX `champion_history_experiment_idx` ON `champion_history` (`experiment_id`,`id`);--> statement-breakpoint
CREATE TABLE `eval_item_scores` (
	`run_id` text NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`item_id` text NOT NULL,
	`sample_key` text NOT NULL,
	`score` real NOT NULL,
	`valid` integer NOT NULL,
	`cluster` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `item_id`, `sample_key`)
);
--> statement-breakpoint
CREATE TABLE `retraining_cycles` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`policy_id` text NOT NULL,
	`experiment_id` text NOT NULL,
	`status` text NOT NULL,
	`trigger` text NOT NULL,
	`feedback_since` integer NOT NULL,
	`feedback_count` integer DEFAULT 0 NOT NULL,
	`champion_run_id` text,
	`holdout_dataset_id` text,
	`curation_id` text,
	`dataset_id` text,
	`run_id` text,
	`champion_eval_id` text,
	`challenger_eval_id` text,
	`decision` text,
	`error` text,
	`log` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `retraining_cycles_policy_idx` ON `retraining_cycles` (`policy_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `retraining_cycles_open_idx` ON `retraining_cycles` (`policy_id`) WHERE status in ('curating', 'training', 'evaluating');--> statement-breakpoint
CREATE INDEX `retraining_cycles_status_idx` ON `retraining_cycles` (`status`);--> statement-breakpoint
CREATE INDEX `retraining_cycles_run_idx` ON `retraining_cycles` (`run_id`);--> statement-breakpoint
CREATE INDEX `retraining_cycles_champion_eval_idx` ON `retraining_cycles` (`champion_eval_id`);--> statement-breakpoint
CREATE INDEX `retraining_cycles_challenger_eval_idx` ON `retraining_cycles` (`challenger_eval_id`);--> statement-breakpoint
CREATE TABLE `retraining_policies` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`experiment_id` text NOT NULL,
	`name` text NOT NULL,
	`spec` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `retraining_policies_experiment_idx` ON `retraining_policies` (`project_id`,`experiment_id`,`id`);