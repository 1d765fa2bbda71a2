-- For every target task: its reference task(s) and rho with each, and the ImageNet-X member
-- closest in class count and rho with it (seed 2, Table 3). The family is the 'family' tasks and
-- the reference itself (seed 2, section 4.3: "including the original ImageNet"), so a target
-- with many classes is matched to the reference. A task's class count is
-- study_tasks.num_classes, else its subset's (0 counts as unknown). Ties in |difference| go to the
-- member with fewer classes, then the smaller label. A target with no reference, no family or no
-- class count keeps NULLs there.
CREATE VIEW imagenet_x_matches AS
WITH tasks AS (
    SELECT s.name AS study, t.label AS label, t.role AS role,
           COALESCE(t.num_classes, NULLIF(sub.num_classes, 0)) AS classes
    FROM study_tasks t
    JOIN studies s ON s.id = t.study_id
    LEFT JOIN subsets sub ON sub.id = t.subset_id
),
ordered AS (
    SELECT tg.study AS study, tg.label AS target, f.label AS match, f.classes AS match_classes,
           ROW_NUMBER() OVER (
               PARTITION BY tg.study, tg.label
               ORDER BY ABS(f.classes - tg.classes), f.classes, f.label) AS pick
    FROM tasks tg
    JOIN tasks f ON f.study = tg.study AND f.role IN ('family', 'reference')
                AND f.classes IS NOT NULL
    WHERE tg.role = 'target' AND tg.classes IS NOT NULL
),
matched AS (
    SELECT tg.study AS study, tg.label AS target, tg.classes AS target_classes,
           ref.label AS reference, m.match AS match, m.match_classes AS match_classes
    FROM tasks tg
    LEFT JOIN tasks ref ON ref.study = tg.study AND ref.role = 'reference'
    LEFT JOIN ordered m ON m.study = tg.study AND m.target = tg.label AND m.pick = 1
    WHERE tg.role = 'target'
),
-- Only the pairs this view reports are ranked (not all of apr_correlations): same definition
-- as apr_correlations (average ranks over the candidates both tasks have), far fewer rows.
wanted AS (
    SELECT study, target AS task_a, reference AS task_b FROM matched WHERE reference IS NOT NULL
    UNION
    SELECT study, target AS task_a, match AS task_b FROM matched WHERE match IS NOT NULL
),
pairs AS (
    SELECT w.study AS study, w.task_a AS task_a, w.task_b AS task_b, a.error AS x, b.error AS y
    FROM wanted w
    JOIN candidate_errors a ON a.study = w.study AND a.task = w.task_a
    JOIN candidate_errors b ON b.study = w.study AND b.task = w.task_b
                           AND b.candidate = a.candidate
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
rho AS (
    SELECT study, task_a, task_b,
           CASE WHEN MIN(rx) = MAX(rx) OR MIN(ry) = MAX(ry) THEN NULL
                ELSE (COUNT(*) * SUM(rx * ry) - SUM(rx) * SUM(ry))
                     / sqrt((COUNT(*) * SUM(rx * rx) - SUM(rx) * SUM(rx))
                            * (COUNT(*) * SUM(ry * ry) - SUM(ry) * SUM(ry)))
           END AS spearman
    FROM ranked
    GROUP BY study, task_a, task_b
)
SELECT m.study AS study, m.target AS target, m.target_classes AS target_classes,
       m.reference AS reference, r.spearman AS rho_reference,
       m.match AS match, m.match_classes AS match_classes, f.spearman AS rho_match
FROM matched m
LEFT JOIN rho r ON r.study = m.study AND r.task_a = m.target AND r.task_b = m.reference
LEFT JOIN rho f ON f.study = m.study AND f.task_a = m.target AND f.task_b = m.match
