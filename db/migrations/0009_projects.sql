CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name_unique` ON `projects` (`name`);--> statement-breakpoint
DROP INDEX `certificates_grader_idx`;--> statement-breakpoint
ALTER TABLE `certificates` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
CREATE INDEX `certificates_grader_idx` ON `certificates` (`project_id`,`grader_hash`,`created_at`);--> statement-breakpoint
ALTER TABLE `api_keys` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `role` text DEFAULT 'write' NOT NULL;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `expires_at` integer;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `last_used_at` integer;--> statement-breakpoint
CREATE INDEX `api_keys_project_idx` ON `api_keys` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `idempotency_keys` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
ALTER TABLE `datasets` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
CREATE INDEX `datasets_project_idx` ON `datasets` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `experiments` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
CREATE INDEX `experiments_project_idx` ON `experiments` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `runs` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
CREATE INDEX `runs_project_idx` ON `runs` (`project_id`,`id`);--> statement-breakpoint
ALTER TABLE `sweeps` ADD `project_id` text DEFAULT 'prj_default' NOT NULL;--> statement-breakpoint
CREATE INDEX `sweeps_project_idx` ON `sweeps` (`project_id`,`id`);