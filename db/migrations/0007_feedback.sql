CREATE TABLE `curations` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`name` text,
	`spec` text NOT NULL,
	`status` text NOT NULL,
	`progress_done` integer DEFAULT 0 NOT NULL,
	`progress_total` integer DEFAULT 0 NOT NULL,
	`state` text,
	`dataset_id` text,
	`report` text,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `curations_project_idx` ON `curations` (`project_id`,`id`);--> statement-breakpoint
CREATE TABLE `feedback_dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`event_id` text NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL,
	`created_at` integer NOT NULL,
	`retried_at` integer,
	`resolved_at` integer
);
--> statement-breakpoint
CREATE INDEX `feedback_dead_letters_project_idx` ON `feedback_dead_letters` (`project_id`,`resolved_at`,`id`);--> statement-breakpoint
CREATE TABLE `feedback_events` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`source_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`model` text NOT NULL,
	`input` text NOT NULL,
	`input_text` text NOT NULL,
	`output` text NOT NULL,
	`rating` text,
	`rating_value` real,
	`correction` text,
	`reference` text,
	`comment` text,
	`labels` text,
	`metadata` text,
	`embedding` text,
	`redactions` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`received_at` integer NOT NULL,
	`processed_at` integer,
	`attempts` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `feedback_events_delivery_idx` ON `feedback_events` (`project_id`,`source_id`,`delivery_id`);--> statement-breakpoint
CREATE INDEX `feedback_events_source_idx` ON `feedback_events` (`source_id`,`received_at`);--> statement-breakpoint
CREATE INDEX `feedback_events_project_idx` ON `feedback_events` (`project_id`,`received_at`);--> statement-breakpoint
CREATE INDEX `feedback_events_model_idx` ON `feedback_events` (`model`,`received_at`);--> statement-breakpoint
CREATE INDEX `feedback_events_unprocessed_idx` ON `feedback_events` (`processed_at`,`received_at`);--> statement-breakpoint
CREATE TABLE `feedback_sources` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text DEFAULT 'prj_default' NOT NULL,
	`name` text NOT NULL,
	`experiment_id` text,
	`redact_pii` integer DEFAULT true NOT NULL,
	`secret_enc` text NOT NULL,
	`previous_secret_enc` text,
	`previous_secret_until` integer,
	`events` integer DEFAULT 0 NOT NULL,
	`last_event_at` integer,
	`revoked_at` integer,
	`created_at` integer NOT NULL,
	`rotated_at` integer
);
--> statement-breakpoint
CREATE INDEX `feedback_sources_project_idx` ON `feedback_sources` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `datasets` ADD `parent_id` text;--> statement-breakpoint
ALTER TABLE `datasets` ADD `curation_id` text;