-- Seed 1's Table 2: one row per proxy-creation strategy (study_tasks.strategy; default the proxy's
-- label without its "<target>/" prefix), pooling every (candidate, target) pair of the strategy's
-- proxies over all its targets (seed 1: 72 configurations x datasets per row). A pair's result
-- is the run's best-epoch accuracy (else final; 1 - error, means over seeds) as in proxy_quality.
-- Accuracies are z-scored within each (target, proxy) pair of tasks over the candidates both
-- have (population standard deviation), "normalised within each dataset" (seed 1, section 3):
--   r2             r^2 of the no-intercept regression TargetAcc = beta * ProxyAcc over the pooled
--                  z-scores: (sum zx zy)^2 / (sum zx^2 * sum zy^2); NULL if nothing varies;
--   spearman_good  Spearman rho (average ranks) of the pooled z-scores of the good pairs, good
--                  decided within each (target, proxy) on raw proxy accuracy by the study's rule
--                  (analysis_settings, as proxy_quality); n_good counts them;
--   relative_cost  proxy device seconds / target device seconds summed over the pairs when every
--                  pair has both, else the mean over the pairs of (epochs x train examples) of the
--                  proxy over its target's;
--   n_targets      targets with at least one usable pair; n the pairs used; n_missing the pairs
--                  the strategy's proxies x the study's candidates could not give (no result on
--                  both tasks, or a (target, proxy) whose accuracies are constant).
CREATE VIEW proxy_strategies AS
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
    SELECT p.study AS study, p.strategy AS strategy, tg.label AS target, p.label AS proxy,
           1 - cp.error AS px, 1 - ct.error AS ty, cp.gpu_seconds AS ps, ct.gpu_seconds AS ts,
           p.work / NULLIF(tg.work, 0) AS work_ratio
    FROM tasks p
    JOIN tasks tg ON tg.study_id = p.study_id AND tg.label = p.proxy_of
    JOIN results cp ON cp.study = p.study AND cp.task = p.label
    JOIN results ct
      ON ct.study = p.study AND ct.task = tg.label AND ct.candidate = cp.candidate
    WHERE p.role = 'proxy'
),
centered AS (
    SELECT study, strategy, target, proxy, px,
           px - AVG(px) OVER w AS dx, ty - AVG(ty) OVER w AS dy, MAX(px) OVER w AS best,
           RANK() OVER (PARTITION BY study, strategy, target, proxy ORDER BY px DESC) AS place
    FROM pairs
    WINDOW w AS (PARTITION BY study, strategy, target, proxy)
),
scaled AS (
    SELECT study, strategy, target, proxy, px, best, place,
           dx / NULLIF(sqrt(AVG(dx * dx) OVER w), 0) AS zx,
           dy / NULLIF(sqrt(AVG(dy * dy) OVER w), 0) AS zy
    FROM centered
    WINDOW w AS (PARTITION BY study, strategy, target, proxy)
),
usable AS (
    SELECT * FROM scaled WHERE zx IS NOT NULL AND zy IS NOT NULL
),
overall AS (
    SELECT study, strategy, COUNT(DISTINCT target) AS n_targets, COUNT(*) AS n,
           SUM(zx * zy) * SUM(zx * zy) / NULLIF(SUM(zx * zx) * SUM(zy * zy), 0) AS r2
    FROM usable
    GROUP BY study, strategy
),
cost AS (
    SELECT study, strategy,
           CASE WHEN COUNT(ps) = COUNT(*) AND COUNT(ts) = COUNT(*) AND SUM(ts) > 0
                THEN SUM(ps) / SUM(ts) ELSE AVG(work_ratio) END AS relative_cost
    FROM pairs
    GROUP BY study, strategy
),
good AS (
    SELECT u.study AS study, u.strategy AS strategy, u.zx AS zx, u.zy AS zy
    FROM usable u
    JOIN analysis_settings st ON st.study = u.study
    WHERE u.px >= CASE WHEN st.good_min_accuracy > st.good_fraction_of_best * u.best
                       THEN st.good_min_accuracy
                       ELSE st.good_fraction_of_best * u.best END
      AND (st.good_top IS NULL OR u.place <= st.good_top)
),
good_ranked AS (
    SELECT study, strategy,
           CAST((RANK() OVER (PARTITION BY study, strategy ORDER BY zx)
                 + COUNT(*) OVER (PARTITION BY study, strategy ORDER BY zx)) / 2.0
                 AS DOUBLE PRECISION) AS rx,
           CAST((RANK() OVER (PARTITION BY study, strategy ORDER BY zy)
                 + COUNT(*) OVER (PARTITION BY study, strategy ORDER BY zy)) / 2.0
                 AS DOUBLE PRECISION) AS ry
    FROM good
),
good_stats AS (
    SELECT study, strategy, COUNT(*) AS n_good,
           CASE WHEN MIN(rx) = MAX(rx) OR MIN(ry) = MAX(ry) THEN NULL
                ELSE (COUNT(*) * SUM(rx * ry) - SUM(rx) * SUM(ry))
                     / sqrt((COUNT(*) * SUM(rx * rx) - SUM(rx) * SUM(rx))
                            * (COUNT(*) * SUM(ry * ry) - SUM(ry) * SUM(ry)))
           END AS spearman_good
    FROM good_ranked
    GROUP BY study, strategy
),
expected AS (
    SELECT study, strategy, COUNT(*) AS n_proxies
    FROM tasks
    WHERE role = 'proxy'
    GROUP BY study, strategy
)
SELECT e.study AS study, e.strategy AS strategy, COALESCE(o.n_targets, 0) AS n_targets,
       COALESCE(o.n, 0) AS n, e.n_proxies * z.n_candidates - COALESCE(o.n, 0) AS n_missing,
       o.r2 AS r2, g.spearman_good AS spearman_good, COALESCE(g.n_good, 0) AS n_good,
       c.relative_cost AS relative_cost
FROM expected e
JOIN study_sizes z ON z.study = e.study
LEFT JOIN overall o ON o.study = e.study AND o.strategy = e.strategy
LEFT JOIN cost c ON c.study = e.study AND c.strategy = e.strategy
LEFT JOIN good_stats g ON g.study = e.study AND g.strategy = e.strategy
