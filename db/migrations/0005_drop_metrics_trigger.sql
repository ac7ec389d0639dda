-- Metric writes are guarded in the insert itself (db/queries/metrics.ts); the trigger would also block
-- the platform's own reward telemetry, which updates a step's aggregate as more batches of it arrive.
DROP TRIGGER IF EXISTS `metrics_value_conflict`;
