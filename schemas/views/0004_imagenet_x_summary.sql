-- Seed 2's headline (abstract; Table 3's "Average" row): over the study's targets that have both
-- correlations, the mean rho with the reference (ImageNet), the mean rho with the matched
-- ImageNet-X member, their mean difference (match - reference) and the ratio of the means
-- (match / reference; NULL when the reference's mean is 0). n is the fewest candidates any of
-- those targets used and n_missing the most it missed (each target's rho pair shares candidates,
-- see imagenet_x_matches). Targets without both correlations are left out of the means and
-- counted in n_targets_missing.
CREATE VIEW imagenet_x_summary AS
SELECT study,
       SUM(CASE WHEN rho_reference IS NOT NULL AND rho_match IS NOT NULL THEN 1 ELSE 0 END)
           AS n_targets,
       MIN(CASE WHEN rho_reference IS NOT NULL AND rho_match IS NOT NULL THEN n END) AS n,
       MAX(CASE WHEN rho_reference IS NOT NULL AND rho_match IS NOT NULL THEN n_missing END)
           AS n_missing,
       AVG(CASE WHEN rho_match IS NOT NULL THEN rho_reference END) AS mean_rho_reference,
       AVG(CASE WHEN rho_reference IS NOT NULL THEN rho_match END) AS mean_rho_match,
       AVG(rho_match - rho_reference) AS mean_difference,
       AVG(CASE WHEN rho_reference IS NOT NULL THEN rho_match END)
           / NULLIF(AVG(CASE WHEN rho_match IS NOT NULL THEN rho_reference END), 0) AS ratio,
       SUM(CASE WHEN rho_reference IS NULL OR rho_match IS NULL THEN 1 ELSE 0 END)
           AS n_targets_missing
FROM imagenet_x_matches
GROUP BY study
