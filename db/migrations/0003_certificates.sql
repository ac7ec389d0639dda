CREATE TABLE `certificates` (
	`id` text PRIMARY KEY NOT NULL,
	`grader_hash` text NOT NULL,
	`grader_ref` text NOT NULL,
	`verdict` text NOT NULL,
	`report` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `certificates_grader_idx` ON `certificates` (`grader_hash`,`created_at`);