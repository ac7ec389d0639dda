-- Custom SQL migration file, put your code below! --
-- A metric point that repeats (run, name, step) with another value is a conflict. Raising here, before the
-- ON CONFLICT DO NOTHING of the insert, aborts the whole statement and so the whole batch: nothing half-applied.
CREATE TRIGGER `metrics_value_conflict` BEFORE INSERT ON `metrics`
WHEN EXISTS (
  SELECT 1 FROM `metrics` m
  WHERE m.`run_id` = NEW.`run_id` AND m.`name` = NEW.`name` AND m.`step` = NEW.`step` AND m.`value` IS NOT NEW.`value`
)
BEGIN
  SELECT RAISE(ABORT, 'ASSAY_METRIC_CONFLICT');
END;
