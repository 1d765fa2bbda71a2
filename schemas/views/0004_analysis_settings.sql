-- Each study's analysis settings (the spec's `analysis:`; NULL columns take the defaults here):
--   diverged               chance (a diverged run counts as chance-level error) or drop;
--   good_rule, good_value  the rule of "good" configurations: min_accuracy X, relative_to_best F
--                          or top K; default relative_to_best 0.95;
--   good_fraction_of_best, good_min_accuracy, good_top  the same rule as the thresholds the
--                          views apply: proxy accuracy >= max(min, fraction x best of the pair),
--                          and among the top K when good_top is set.
CREATE VIEW analysis_settings AS
SELECT s.name AS study,
       COALESCE(s.analysis_diverged, 'chance') AS diverged,
       COALESCE(s.good_rule, 'relative_to_best') AS good_rule,
       CAST(COALESCE(s.good_value, 0.95) AS DOUBLE PRECISION) AS good_value,
       CAST(CASE WHEN s.good_rule IS NULL THEN 0.95
                 WHEN s.good_rule = 'relative_to_best' THEN s.good_value
                 ELSE 0.0 END AS DOUBLE PRECISION) AS good_fraction_of_best,
       CAST(CASE WHEN s.good_rule = 'min_accuracy' THEN s.good_value ELSE 0.0 END
            AS DOUBLE PRECISION) AS good_min_accuracy,
       CASE WHEN s.good_rule = 'top' THEN CAST(s.good_value AS INTEGER) END AS good_top
FROM studies s
