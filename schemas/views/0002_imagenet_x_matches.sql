-- For every target task: its reference task(s) and rho with each, and the family member closest
-- in class count and rho with it (seed 2, Table 3). A task's class count is
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
    JOIN tasks f ON f.study = tg.study AND f.role = 'family' AND f.classes IS NOT NULL
    WHERE tg.role = 'target' AND tg.classes IS NOT NULL
),
matched AS (
    SELECT tg.study AS study, tg.label AS target, tg.classes AS target_classes,
           ref.label AS reference, m.match AS match, m.match_classes AS match_classes
    FROM tasks tg
    LEFT JOIN tasks ref ON ref.study = tg.study AND ref.role = 'reference'
    LEFT JOIN ordered m ON m.study = tg.study AND m.target = tg.label AND m.pick = 1
    WHERE tg.role = 'target'
)
SELECT m.study AS study, m.target AS target, m.target_classes AS target_classes,
       m.reference AS reference,
       MAX(CASE WHEN a.task_b = m.reference THEN a.spearman END) AS rho_reference,
       m.match AS match, m.match_classes AS match_classes,
       MAX(CASE WHEN a.task_b = m.match THEN a.spearman END) AS rho_match
FROM matched m
LEFT JOIN apr_correlations a
  ON a.study = m.study AND a.task_a = m.target
 AND (a.task_b = m.reference OR a.task_b = m.match)
GROUP BY m.study, m.target, m.target_classes, m.reference, m.match, m.match_classes
