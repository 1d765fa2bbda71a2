-- Spearman rho of candidate errors between every ordered pair of distinct tasks of a study, over
-- the candidates both tasks have (errors are means over seeds). Ranks are average ranks, exactly
-- as scipy.stats.spearmanr: (RANK() + COUNT(*)) / 2 over one window ordered by the value, whose
-- default frame ends at the last tie, i.e. (1 + #below + #below + #tied) / 2; one sort per side.
-- rho is the Pearson correlation of the ranks; NULL when either side is constant. Each unordered
-- pair is ranked once (task_a < task_b) and mirrored. n_missing: the study's candidates that
-- lack a result on either task (diverged runs count as results unless the study drops them).
CREATE VIEW apr_correlations AS
WITH pairs AS (
    SELECT a.study AS study, a.task AS task_a, b.task AS task_b,
           a.error AS x, b.error AS y
    FROM candidate_errors a
    JOIN candidate_errors b
      ON b.study = a.study AND b.candidate = a.candidate AND b.task > a.task
),
ranked AS (
    SELECT study, task_a, task_b,
           CAST((RANK() OVER (PARTITION BY study, task_a, task_b ORDER BY x)
                 + COUNT(*) OVER (PARTITION BY study, task_a, task_b ORDER BY x)) / 2.0
                 AS DOUBLE PRECISION) AS rx,
           CAST((RANK() OVER (PARTITION BY study, task_a, task_b ORDER BY y)
                 + COUNT(*) OVER (PARTITION BY study, task_a, task_b ORDER BY y)) / 2.0
                 AS DOUBLE PRECISION) AS ry
    FROM pairs
),
half AS (
    SELECT study, task_a, task_b, COUNT(*) AS n,
           CASE WHEN MIN(rx) = MAX(rx) OR MIN(ry) = MAX(ry) THEN NULL
                ELSE (COUNT(*) * SUM(rx * ry) - SUM(rx) * SUM(ry))
                     / sqrt((COUNT(*) * SUM(rx * rx) - SUM(rx) * SUM(rx))
                            * (COUNT(*) * SUM(ry * ry) - SUM(ry) * SUM(ry)))
           END AS spearman
    FROM ranked
    GROUP BY study, task_a, task_b
)
SELECT h.study AS study, h.task_a AS task_a, h.task_b AS task_b, h.n AS n, h.spearman AS spearman,
       z.n_candidates - h.n AS n_missing
FROM half h JOIN study_sizes z ON z.study = h.study
UNION ALL
SELECT h.study AS study, h.task_b AS task_a, h.task_a AS task_b, h.n AS n, h.spearman AS spearman,
       z.n_candidates - h.n AS n_missing
FROM half h JOIN study_sizes z ON z.study = h.study
