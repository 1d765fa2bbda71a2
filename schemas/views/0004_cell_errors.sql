-- One row per cell of a study with a result. error is the task's eval metric (top5 -> final top-5
-- error, otherwise final top-1 error) of a finished run ('done'). A run that diverged (status
-- 'failed', failure 'diverged') is a result too when the study's analysis setting `diverged` is
-- 'chance' (the default): chance-level error for k classes, top-1 1 - 1/k, top-5 1 - min(5, k)/k,
-- with k the task's class count (unknown k: no result). Other failures and unfinished cells are
-- missing. diverged is 1 for a diverged run, else 0; best_error is NULL for it.
CREATE VIEW cell_errors AS
WITH cells AS (
    SELECT s.name AS study, c.candidate AS candidate, c.task AS task, c.seed AS seed,
           t.eval_metric AS metric,
           CASE WHEN r.status = 'done' THEN 0 ELSE 1 END AS diverged,
           CAST(COALESCE(t.num_classes, NULLIF(sub.num_classes, 0)) AS DOUBLE PRECISION) AS k,
           r.final_top1_error AS top1, r.final_top5_error AS top5,
           r.best_top1_error AS best1, r.best_top5_error AS best5,
           r.device_seconds AS gpu_seconds
    FROM study_cells c
    JOIN studies s ON s.id = c.study_id
    JOIN runs r ON r.id = c.run_id
    JOIN analysis_settings st ON st.study = s.name
    LEFT JOIN study_tasks t ON t.study_id = c.study_id AND t.label = c.task
    LEFT JOIN subsets sub ON sub.id = t.subset_id
    WHERE r.status = 'done'
       OR (r.status = 'failed' AND r.failure = 'diverged' AND st.diverged = 'chance')
),
results AS (
    SELECT study, candidate, task, seed, metric, diverged, gpu_seconds,
           CASE WHEN diverged = 0 THEN top1 ELSE 1 - 1 / k END AS top1_error,
           CASE WHEN diverged = 0 THEN top5
                WHEN k < 5 THEN 0.0 ELSE 1 - 5 / k END AS top5_error,
           CASE WHEN diverged = 1 THEN NULL
                WHEN metric = 'top5' THEN best5 ELSE best1 END AS best_error
    FROM cells
)
SELECT study, candidate, task, seed,
       CASE WHEN metric = 'top5' THEN top5_error ELSE top1_error END AS error,
       top1_error, top5_error, best_error, gpu_seconds, diverged
FROM results
WHERE (CASE WHEN metric = 'top5' THEN top5_error ELSE top1_error END) IS NOT NULL
