ALTER TABLE `experiment_monitoring` ADD `eval_grader` text;--> statement-breakpoint
ALTER TABLE `experiment_monitoring` ADD `eval_dataset` text;--> statement-breakpoint
ALTER TABLE `experiment_monitoring` ADD `alert_confidence` real DEFAULT 0.95 NOT NULL;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `grader_id` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `grader_config` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `dataset_id` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `base_model` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `backend` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `previous_id` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `grader_changed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `comparison` text;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `regressed` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `nightly_evaluations` ADD `finished_at` integer;--> statement-breakpoint
CREATE INDEX `nightly_evaluations_status_idx` ON `nightly_evaluations` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `nightly_evaluations_run_idx` ON `nightly_evaluations` (`eval_run_id`);