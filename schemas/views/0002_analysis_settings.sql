-- Constants of the analysis views. The default "good candidate" rule of proxy_quality:
-- a candidate is good for a (target, proxy) pair when its proxy accuracy (1 - error) is at least
-- max(good_min_accuracy, good_fraction_of_best * best proxy accuracy of the pair).
-- proxystore.analysis lets Python callers choose other values (GoodRule).
CREATE VIEW analysis_settings AS
SELECT CAST(0.95 AS DOUBLE PRECISION) AS good_fraction_of_best,
       CAST(0.0 AS DOUBLE PRECISION) AS good_min_accuracy
