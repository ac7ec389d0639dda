-- The project that holds every row written before projects existed (their project_id defaults to it)
-- and everything created later without naming a project.
INSERT OR IGNORE INTO `projects` (`id`, `name`, `created_at`) VALUES ('prj_default', 'default', 0);
