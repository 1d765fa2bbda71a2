-- One row per finished cell of a study. error is the task's eval metric (top5 -> final top-5
-- error, otherwise final top-1 error); only runs with status 'done' and that metric present.
CREATE VIEW cell_errors AS
SELECT s.name AS study,
       c.candidate AS candidate,
       c.task AS task,
       c.seed AS seed,
       CASE WHEN t.eval_metric = 'top5' THEN r.final_top5_error
            ELSE r.final_top1_error END AS error,
       r.final_top1_error AS top1_error,
       r.final_top5_error AS top5_error,
       CASE WHEN t.eval_metric = 'top5' THEN r.best_top5_error
            ELSE r.best_top1_error END AS best_error,
       r.device_seconds AS gpu_seconds
FROM study_cells c
JOIN studies s ON s.id = c.study_id
JOIN runs r ON r.id = c.run_id
LEFT JOIN study_tasks t ON t.study_id = c.study_id AND t.label = c.task
WHERE r.status = 'done'
  AND (CASE WHEN t.eval_metric = 'top5' THEN r.final_top5_error
            ELSE r.final_top1_error END) IS NOT NULL
