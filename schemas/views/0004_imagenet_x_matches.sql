-- For every target task: its reference task(s) and rho with each, and the ImageNet-X member
-- closest in class count and rho with it (seed 2, Table 3). The family is the 'family' tasks and
-- the reference itself (seed 2, section 4.3: "including the original ImageNet"), so a target
-- with many classes is matched to the reference. A task's class count is
-- study_tasks.num_classes, else its subset's (0 counts as unknown). Ties in |difference| go to the
-- member with fewer classes, then the smaller label. A target with no reference, no family or no
-- class count keeps NULLs there. Both rho are computed on the same candidates (seed 2 compares
-- them side by side): those with a result on the target, the reference and the match (on two of
-- them where the third is NULL); n counts them and n_missing the study's other candidates.
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
triples AS (
    SELECT m.study AS study, m.target AS target, t.candidate AS candidate,
           t.error AS et, r.error AS er, f.error AS em
    FROM matched m
    JOIN candidate_errors t ON t.study = m.study AND t.task = m.target
    LEFT JOIN candidate_errors r
      ON r.study = m.study AND r.task = m.reference AND r.candidate = t.candidate
    LEFT JOIN candidate_errors f
      ON f.study = m.study AND f.task = m.match AND f.candidate = t.candidate
    WHERE (m.reference IS NULL OR r.error IS NOT NULL)
      AND (m.match IS NULL OR f.error IS NOT NULL)
      AND (m.reference IS NOT NULL OR m.match IS NOT NULL)
),
ranked AS (
    SELECT study, target,
           CAST((RANK() OVER (PARTITION BY study, target ORDER BY et)
                 + COUNT(*) OVER (PARTITION BY study, target ORDER BY et)) / 2.0
                 AS DOUBLE PRECISION) AS rt,
           CAST((RANK() OVER (PARTITION BY study, target ORDER BY er)
                 + COUNT(*) OVER (PARTITION BY study, target ORDER BY er)) / 2.0
                 AS DOUBLE PRECISION) AS rr,
           CAST((RANK() OVER (PARTITION BY study, target ORDER BY em)
                 + COUNT(*) OVER (PARTITION BY study, target ORDER BY em)) / 2.0
                 AS DOUBLE PRECISION) AS rm,
           er, em
    FROM triples
),
rho AS (
    SELECT study, target, COUNT(*) AS n,
           CASE WHEN COUNT(er) = 0 OR MIN(rt) = MAX(rt) OR MIN(rr) = MAX(rr) THEN NULL
                ELSE (COUNT(*) * SUM(rt * rr) - SUM(rt) * SUM(rr))
                     / sqrt((COUNT(*) * SUM(rt * rt) - SUM(rt) * SUM(rt))
                            * (COUNT(*) * SUM(rr * rr) - SUM(rr) * SUM(rr)))
           END AS rho_reference,
           CASE WHEN COUNT(em) = 0 OR MIN(rt) = MAX(rt) OR MIN(rm) = MAX(rm) THEN NULL
                ELSE (COUNT(*) * SUM(rt * rm) - SUM(rt) * SUM(rm))
                     / sqrt((COUNT(*) * SUM(rt * rt) - SUM(rt) * SUM(rt))
                            * (COUNT(*) * SUM(rm * rm) - SUM(rm) * SUM(rm)))
           END AS rho_match
    FROM ranked
    GROUP BY study, target
)
SELECT m.study AS study, m.target AS target, m.target_classes AS target_classes,
       m.reference AS reference, r.rho_reference AS rho_reference,
       m.match AS match, m.match_classes AS match_classes, r.rho_match AS rho_match,
       COALESCE(r.n, 0) AS n, z.n_candidates - COALESCE(r.n, 0) AS n_missing
FROM matched m
JOIN study_sizes z ON z.study = m.study
LEFT JOIN rho r ON r.study = m.study AND r.target = m.target
