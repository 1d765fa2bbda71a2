-- Spearman rho of each task's candidate errors with the architectures' cumulative block depth and
-- width (seed 2, Table 4), over the candidates whose architecture has both; average ranks for
-- ties; NULL when either side is constant. n_missing: the study's candidates not used.
CREATE VIEW depth_width_correlations AS
WITH base AS (
    SELECT ce.study AS study, ce.task AS task, ce.error AS e,
           CAST(a.cumulative_depth AS DOUBLE PRECISION) AS d,
           CAST(a.cumulative_width AS DOUBLE PRECISION) AS w
    FROM candidate_errors ce
    JOIN studies s ON s.name = ce.study
    JOIN study_candidates sc ON sc.study_id = s.id AND sc.label = ce.candidate
    JOIN architectures a ON a.id = sc.architecture_id
    WHERE a.cumulative_depth IS NOT NULL AND a.cumulative_width IS NOT NULL
),
ranked AS (
    SELECT study, task,
           CAST((RANK() OVER (PARTITION BY study, task ORDER BY e)
                 + COUNT(*) OVER (PARTITION BY study, task ORDER BY e)) / 2.0
                 AS DOUBLE PRECISION) AS re,
           CAST((RANK() OVER (PARTITION BY study, task ORDER BY d)
                 + COUNT(*) OVER (PARTITION BY study, task ORDER BY d)) / 2.0
                 AS DOUBLE PRECISION) AS rd,
           CAST((RANK() OVER (PARTITION BY study, task ORDER BY w)
                 + COUNT(*) OVER (PARTITION BY study, task ORDER BY w)) / 2.0
                 AS DOUBLE PRECISION) AS rw
    FROM base
)
SELECT r.study AS study, r.task AS task, COUNT(*) AS n,
       CASE WHEN MIN(re) = MAX(re) OR MIN(rd) = MAX(rd) THEN NULL
            ELSE (COUNT(*) * SUM(re * rd) - SUM(re) * SUM(rd))
                 / sqrt((COUNT(*) * SUM(re * re) - SUM(re) * SUM(re))
                        * (COUNT(*) * SUM(rd * rd) - SUM(rd) * SUM(rd)))
       END AS rho_cumulative_depth,
       CASE WHEN MIN(re) = MAX(re) OR MIN(rw) = MAX(rw) THEN NULL
            ELSE (COUNT(*) * SUM(re * rw) - SUM(re) * SUM(rw))
                 / sqrt((COUNT(*) * SUM(re * re) - SUM(re) * SUM(re))
                        * (COUNT(*) * SUM(rw * rw) - SUM(rw) * SUM(rw)))
       END AS rho_cumulative_width,
       MAX(z.n_candidates) - COUNT(*) AS n_missing
FROM ranked r
JOIN study_sizes z ON z.study = r.study
GROUP BY r.study, r.task
