-- How well the ranking after epoch k predicts the final one (seed 1, Figure 4): for every task
-- and epoch, Spearman rho (average ranks) between the candidates' error at that epoch and their
-- result, the "final best validation accuracy" (seed 1 scores a run by its best epoch, section
-- 3.2): the run's best-epoch error, or its final error where it recorded no best. Both are the
-- task's eval metric and means over the same finished cells (those that logged the epoch); NULL
-- when either side is constant. n_missing: the study's candidates without both (a diverged
-- run has no final result to compare with, so it is missing here).
CREATE VIEW epoch_correlations AS
WITH cells AS (
    SELECT s.name AS study, c.candidate AS candidate, c.task AS task, e.epoch AS epoch,
           CASE WHEN t.eval_metric = 'top5' THEN e.top5_error ELSE e.top1_error END AS x,
           CASE WHEN t.eval_metric = 'top5' THEN COALESCE(r.best_top5_error, r.final_top5_error)
                ELSE COALESCE(r.best_top1_error, r.final_top1_error) END AS y
    FROM study_cells c
    JOIN studies s ON s.id = c.study_id
    JOIN runs r ON r.id = c.run_id
    JOIN run_epochs e ON e.run_id = r.id
    LEFT JOIN study_tasks t ON t.study_id = c.study_id AND t.label = c.task
    WHERE r.status = 'done'
),
candidates AS (
    SELECT study, task, epoch, candidate, AVG(x) AS x, AVG(y) AS y
    FROM cells
    WHERE x IS NOT NULL AND y IS NOT NULL
    GROUP BY study, task, epoch, candidate
),
ranked AS (
    SELECT study, task, epoch,
           CAST((RANK() OVER (PARTITION BY study, task, epoch ORDER BY x)
                 + COUNT(*) OVER (PARTITION BY study, task, epoch ORDER BY x)) / 2.0
                 AS DOUBLE PRECISION) AS rx,
           CAST((RANK() OVER (PARTITION BY study, task, epoch ORDER BY y)
                 + COUNT(*) OVER (PARTITION BY study, task, epoch ORDER BY y)) / 2.0
                 AS DOUBLE PRECISION) AS ry
    FROM candidates
)
SELECT r.study AS study, r.task AS task, r.epoch AS epoch, COUNT(*) AS n,
       CASE WHEN MIN(rx) = MAX(rx) OR MIN(ry) = MAX(ry) THEN NULL
            ELSE (COUNT(*) * SUM(rx * ry) - SUM(rx) * SUM(ry))
                 / sqrt((COUNT(*) * SUM(rx * rx) - SUM(rx) * SUM(rx))
                        * (COUNT(*) * SUM(ry * ry) - SUM(ry) * SUM(ry)))
       END AS spearman_with_final,
       MAX(z.n_candidates) - COUNT(*) AS n_missing
FROM ranked r
JOIN study_sizes z ON z.study = r.study
GROUP BY r.study, r.task, r.epoch
