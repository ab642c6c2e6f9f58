# Golden random-effects meta-analysis numbers from R metafor for tests/test_meta.py.
#
# Run from the repository root:
#
#     Rscript benchmarks/metafor_golden.R
#
# Eight features, each with 2 to 6 studies (effects and sampling variances drawn
# here with a fixed seed, some heterogeneous, one with a study missing), pooled
# by rma() with method = "REML" and "DL", test = "z" and "knha"
# (Hartung-Knapp-Sidik-Jonkman).  Writes tests/data/golden/metafor_rma.json.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

set.seed(20261125)
k <- c(2, 2, 3, 3, 4, 5, 6, 6)
tau <- c(0, 0.8, 0, 0.5, 0.3, 0, 0.6, 0.2)
features <- lapply(seq_along(k), function(j) {
  v <- runif(k[j], 0.02, 0.4)
  y <- rnorm(1, 0.3, 0.5) + rnorm(k[j], 0, sqrt(v + tau[j]^2))
  list(y = y, v = v)
})

fits <- list()
for (method in c("REML", "DL")) {
  for (test in c("z", "knha")) {
    rows <- lapply(features, function(f) {
      r <- rma(yi = f$y, vi = f$v, method = method, test = test,
               control = list(stepadj = 0.5, maxiter = 1000, threshold = 1e-12))
      list(effect = as.numeric(r$beta), se = r$se, ci_low = r$ci.lb, ci_high = r$ci.ub,
           p_value = r$pval, tau2 = r$tau2, i2 = r$I2 / 100, q = r$QE)
    })
    fits[[paste(tolower(method), test, sep = "_")]] <- rows
  }
}
out <- list(features = features, fits = fits,
            metafor = as.character(packageVersion("metafor")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/golden/metafor_rma.json")
