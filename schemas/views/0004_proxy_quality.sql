-- Seed 1's proxy-quality metrics for every proxy task (role 'proxy', proxy_of = its target's
-- label), over the candidates both tasks have. Seed 1 (section 3.2) takes "the best validation
-- accuracy at any epoch" as a run's result: a cell's error here is its best-epoch error of the
-- eval metric (cell_errors.best_error), or its final error where the run recorded no best
-- (imported results); errors are means over seeds; accuracy = 1 - error.
--   r2            r^2 of the least-squares regression of z-scored target accuracy on z-scored
--                 proxy accuracy, i.e. the squared Pearson correlation; NULL if either is constant;
--   spearman_good Spearman rho (average ranks) over the good candidates: proxy accuracy at least
--                 max(good_min_accuracy, good_fraction_of_best * best proxy accuracy of the pair)
--                 and, under the rule top K, among the K best (ties kept), the study's rule from
--                 analysis_settings; n_good counts them;
--   relative_cost proxy compute / target compute: sum over the shared candidates of the mean device
--                 seconds per training, when every shared candidate has seconds on both tasks;
--                 otherwise (epochs x train examples) of the proxy task over the target task;
--   n_missing     the study's candidates without a result on both tasks; strategy: the proxy's.
-- This is seed 1's per-dataset split (Figure 3); Table 2's rows are proxy_strategies.
CREATE VIEW proxy_quality AS
WITH tasks AS (
    SELECT t.study_id AS study_id, s.name AS study, t.label AS label, t.role AS role,
           t.proxy_of AS proxy_of, COALESCE(t.strategy, t.label) AS strategy,
           CAST(t.epochs AS DOUBLE PRECISION)
             * CAST(COALESCE(t.train_count, NULLIF(sub.train_count, 0)) AS DOUBLE PRECISION) AS work
    FROM study_tasks t
    JOIN studies s ON s.id = t.study_id
    LEFT JOIN subsets sub ON sub.id = t.subset_id
),
results AS (
    SELECT study, candidate, task, AVG(COALESCE(best_error, error)) AS error,
           AVG(gpu_seconds) AS gpu_seconds
    FROM cell_errors
    GROUP BY study, candidate, task
),
pairs AS (
    SELECT p.study AS study, tg.label AS target, p.label AS proxy, p.strategy AS strategy,
           1 - cp.error AS px, 1 - ct.error AS ty,
           cp.gpu_seconds AS ps, ct.gpu_seconds AS ts,
           p.work AS proxy_work, tg.work AS target_work
    FROM tasks p
    JOIN tasks tg ON tg.study_id = p.study_id AND tg.label = p.proxy_of
    JOIN results cp ON cp.study = p.study AND cp.task = p.label
    JOIN results ct
      ON ct.study = p.study AND ct.task = tg.label AND ct.candidate = cp.candidate
    WHERE p.role = 'proxy'
),
centered AS (
    SELECT study, target, proxy, strategy, px, ty, ps, ts, proxy_work, target_work,
           px - AVG(px) OVER w AS dx,
           ty - AVG(ty) OVER w AS dy,
           MAX(px) OVER w AS best,
           RANK() OVER (PARTITION BY study, target, proxy ORDER BY px DESC) AS place
    FROM pairs
    WINDOW w AS (PARTITION BY study, target, proxy)
),
overall AS (
    SELECT study, target, proxy, MAX(strategy) AS strategy, COUNT(*) AS n,
           CASE WHEN MIN(px) = MAX(px) OR MIN(ty) = MAX(ty) THEN NULL
                ELSE SUM(dx * dy) * SUM(dx * dy) / (SUM(dx * dx) * SUM(dy * dy)) END AS r2,
           CASE WHEN COUNT(ps) = COUNT(*) AND COUNT(ts) = COUNT(*) AND SUM(ts) > 0
                THEN SUM(ps) / SUM(ts)
                ELSE MAX(proxy_work) / NULLIF(MAX(target_work), 0) END AS relative_cost
    FROM centered
    GROUP BY study, target, proxy
),
good AS (
    SELECT c.study AS study, c.target AS target, c.proxy AS proxy, c.px AS px, c.ty AS ty
    FROM centered c
    JOIN analysis_settings st ON st.study = c.study
    WHERE c.px >= CASE WHEN st.good_min_accuracy > st.good_fraction_of_best * c.best
                       THEN st.good_min_accuracy
                       ELSE st.good_fraction_of_best * c.best END
      AND (st.good_top IS NULL OR c.place <= st.good_top)
),
good_ranked AS (
    SELECT study, target, proxy,
           CAST((RANK() OVER (PARTITION BY study, target, proxy ORDER BY px)
                 + COUNT(*) OVER (PARTITION BY study, target, proxy ORDER BY px)) / 2.0
                 AS DOUBLE PRECISION) AS rx,
           CAST((RANK() OVER (PARTITION BY study, target, proxy ORDER BY ty)
                 + COUNT(*) OVER (PARTITION BY study, target, proxy ORDER BY ty)) / 2.0
                 AS DOUBLE PRECISION) AS ry
    FROM good
),
good_stats AS (
    SELECT study, target, proxy, COUNT(*) AS n_good,
           CASE WHEN MIN(rx) = MAX(rx) OR MIN(ry) = MAX(ry) THEN NULL
                ELSE (COUNT(*) * SUM(rx * ry) - SUM(rx) * SUM(ry))
                     / sqrt((COUNT(*) * SUM(rx * rx) - SUM(rx) * SUM(rx))
                            * (COUNT(*) * SUM(ry * ry) - SUM(ry) * SUM(ry)))
           END AS spearman_good
    FROM good_ranked
    GROUP BY study, target, proxy
)
SELECT o.study AS study, o.target AS target, o.proxy AS proxy, o.n AS n, o.r2 AS r2,
       g.spearman_good AS spearman_good, COALESCE(g.n_good, 0) AS n_good,
       o.relative_cost AS relative_cost, z.n_candidates - o.n AS n_missing,
       o.strategy AS strategy
FROM overall o
JOIN study_sizes z ON z.study = o.study
LEFT JOIN good_stats g ON g.study = o.study AND g.target = o.target AND g.proxy = o.proxy
