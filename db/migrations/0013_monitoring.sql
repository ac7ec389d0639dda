CREATE TABLE `drift_checks` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`experiment_id` text NOT NULL,
	`window_start` integer NOT NULL,
	`window_end` integer NOT NULL,
	`trigger` text NOT NULL,
	`reference_dataset` text,
	`reference_n` integer NOT NULL,
	`current_n` integer NOT NULL,
	`drifted` integer NOT NULL,
	`report` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `drift_checks_window_idx` ON `drift_checks` (`experiment_id`,`trigger`,`window_start`,`window_end`);--> statement-breakpoint
CREATE INDEX `drift_checks_project_idx` ON `drift_checks` (`project_id`,`experiment_id`,`id`);--> statement-breakpoint
CREATE TABLE `event_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`subscription_id` text NOT NULL,
	`type` text NOT NULL,
	`body` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`lease_until` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`delivered_at` integer
);
--> statement-breakpoint
CREATE INDEX `event_deliveries_subscription_idx` ON `event_deliveries` (`subscription_id`,`id`);--> statement-breakpoint
CREATE INDEX `event_deliveries_due_idx` ON `event_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `event_delivery_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`delivery_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`at` integer NOT NULL,
	`outcome` text NOT NULL,
	`response_code` integer,
	`error` text,
	`duration_ms` integer NOT NULL,
	`next_retry_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `event_delivery_attempts_idx` ON `event_delivery_attempts` (`delivery_id`,`attempt`);--> statement-breakpoint
CREATE TABLE `event_subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`secret_enc` text NOT NULL,
	`description` text,
	`failing_since` integer,
	`disabled_at` integer,
	`disabled_reason` text,
	`created_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `event_subscriptions_project_idx` ON `event_subscriptions` (`project_id`,`id`);--> statement-breakpoint
CREATE TABLE `experiment_monitoring` (
	`experiment_id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`reference_dataset` text,
	`window` text DEFAULT '24h' NOT NULL,
	`window_ms` integer DEFAULT 86400000 NOT NULL,
	`sources` text,
	`alert_margin` real DEFAULT 0.02 NOT NULL,
	`nightly_at_utc` text DEFAULT '02:00' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `experiment_monitoring_project_idx` ON `experiment_monitoring` (`project_id`,`experiment_id`);--> statement-breakpoint
CREATE TABLE `nightly_evaluations` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`experiment_id` text NOT NULL,
	`night` text NOT NULL,
	`status` text NOT NULL,
	`reason` text,
	`champion_run_id` text,
	`eval_run_id` text,
	`grader_version` text,
	`kpis` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nightly_evaluations_night_idx` ON `nightly_evaluations` (`experiment_id`,`night`);--> statement-breakpoint
CREATE INDEX `nightly_evaluations_project_idx` ON `nightly_evaluations` (`project_id`,`experiment_id`,`night`);