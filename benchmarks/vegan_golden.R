# Golden PERMANOVA / PERMDISP numbers from R vegan for tests/test_permanova.py.
#
# Run from the repository root:
#
#     Rscript benchmarks/vegan_golden.R [path/to/shared/data]
#
# It cuts a small real fixture from Franzosa et al. 2019 (PRISM; BSD-2, see
# ../shared/data/ibd/franzosa2019_prism/LICENSE): the first 60 samples whose
# antibiotic and mesalamine fields are not missing.  It writes into
# tests/data/golden/:
#
#   permanova_metadata.csv        id, Diagnosis, Age, antibiotic, mesalamine
#   permanova_bray.csv.gz         Bray-Curtis (vegdist) on the species fractions
#   permanova_aitchison.csv.gz    Euclidean on CLR(fractions + 1e-6) (Aitchison)
#   permanova_perms.csv.gz        199 free permutations (1-based, one per row)
#   permanova_perms_strata.csv.gz 199 permutations within mesalamine blocks
#   vegan_adonis2.json            adonis2 / betadisper / permutest results
#
# The distance files are read back before any test so R and Python use the
# very same doubles.  Every test is run twice: with the fixed permutation
# matrices above (p-values must match exactly) and with 9999 random
# permutations from R's own RNG (p-values must agree within Monte Carlo error).

suppressPackageStartupMessages({
  library(vegan)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
shared <- if (length(args) >= 1) args[[1]] else "../shared/data"
src <- file.path(shared, "ibd", "franzosa2019_prism")
out <- file.path("tests", "data", "golden")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
N_SAMPLES <- 60
N_FIXED <- 199
N_RANDOM <- 9999

# ---- cut the fixture ---------------------------------------------------------
meta <- read.csv(file.path(src, "ibd_metadata.csv"), stringsAsFactors = FALSE, na.strings = c("", "NA"))
meta <- meta[!is.na(meta$antibiotic) & !is.na(meta$mesalamine), ]
meta <- meta[seq_len(N_SAMPLES), c("id", "Diagnosis", "Age", "antibiotic", "mesalamine")]
taxa <- read.csv(file.path(src, "ibd_taxa.csv"), row.names = 1, check.names = FALSE)
x <- t(as.matrix(taxa[, meta$id]))  # samples x species, fractions
x <- x[, colSums(x) > 0]

clr <- log(x + 1e-6)
clr <- clr - rowMeans(clr)
write_dist <- function(d, name) {
  con <- gzfile(file.path(out, name), "w")
  write.csv(as.matrix(d), con)
  close(con)
}
write.csv(meta, file.path(out, "permanova_metadata.csv"), row.names = FALSE)
write_dist(vegdist(x, method = "bray"), "permanova_bray.csv.gz")
write_dist(dist(clr), "permanova_aitchison.csv.gz")

set.seed(20240601)
perms <- shuffleSet(N_SAMPLES, N_FIXED)
perms_strata <- shuffleSet(N_SAMPLES, N_FIXED, control = how(blocks = factor(meta$mesalamine)))
write_perms <- function(p, name) {
  con <- gzfile(file.path(out, name), "w")
  write.table(unclass(p)[, ], con, sep = ",", row.names = FALSE, col.names = FALSE)
  close(con)
}
write_perms(perms, "permanova_perms.csv.gz")
write_perms(perms_strata, "permanova_perms_strata.csv.gz")

# ---- read everything back ----------------------------------------------------
meta <- read.csv(file.path(out, "permanova_metadata.csv"), stringsAsFactors = FALSE)
read_dist <- function(name) {
  m <- as.matrix(read.csv(gzfile(file.path(out, name)), row.names = 1, check.names = FALSE))
  stopifnot(isSymmetric(unname(m)))
  as.dist(m)
}
dists <- list(bray = read_dist("permanova_bray.csv.gz"),
              aitchison = read_dist("permanova_aitchison.csv.gz"))
perms <- as.matrix(read.csv(gzfile(file.path(out, "permanova_perms.csv.gz")), header = FALSE))
perms_strata <- as.matrix(read.csv(gzfile(file.path(out, "permanova_perms_strata.csv.gz")), header = FALSE))
dimnames(perms) <- dimnames(perms_strata) <- NULL

# ---- adonis2 -----------------------------------------------------------------
cases <- list(
  one_factor = list(formula = "~ Diagnosis", by = "terms", strata = FALSE),
  terms = list(formula = "~ Diagnosis + Age + antibiotic", by = "terms", strata = FALSE),
  margin = list(formula = "~ Diagnosis + Age + antibiotic", by = "margin", strata = FALSE),
  overall = list(formula = "~ Diagnosis + Age + antibiotic", by = "overall", strata = FALSE),
  strata = list(formula = "~ Diagnosis + Age", by = "terms", strata = TRUE),
  interaction_terms = list(formula = "~ Diagnosis * Age", by = "terms", strata = FALSE),
  interaction_margin = list(formula = "~ Diagnosis * Age", by = "margin", strata = FALSE)
)

run_adonis <- function(d, case, permutations) {
  f <- as.formula(paste("d", case$formula))
  environment(f) <- environment()
  by <- if (case$by == "overall") NULL else case$by
  strata <- if (case$strata) meta$mesalamine else NULL
  adonis2(f, data = meta, permutations = permutations, by = by, strata = strata)
}

adonis_case <- function(d, case) {
  fixed <- if (case$strata) perms_strata else perms
  a <- run_adonis(d, case, fixed)
  set.seed(1)
  r <- run_adonis(d, case, N_RANDOM)
  list(formula = case$formula, by = case$by,
       strata = if (case$strata) "mesalamine" else NA,
       term = rownames(a), df = a$Df, sum_of_squares = a$SumOfSqs, r2 = a$R2,
       statistic = a$F, p_value_fixed = a$`Pr(>F)`, p_value_random = r$`Pr(>F)`,
       n_random = N_RANDOM)
}

# ---- betadisper + permutest --------------------------------------------------
betadisper_case <- function(d) {
  bd <- betadisper(d, factor(meta$Diagnosis), type = "centroid")
  fixed <- permutest(bd, permutations = perms)
  set.seed(1)
  random <- permutest(bd, permutations = N_RANDOM)
  list(group = names(bd$group.distances), n = as.vector(table(bd$group)),
       mean_distance_to_centroid = unname(bd$group.distances),
       distances = unname(bd$distances), statistic = unname(fixed$statistic),
       p_value_fixed = fixed$tab[1, "Pr(>F)"], p_value_random = random$tab[1, "Pr(>F)"],
       n_random = N_RANDOM)
}

golden <- list(
  vegan_version = as.character(packageVersion("vegan")),
  r_version = R.version.string,
  n_samples = N_SAMPLES,
  adonis2 = lapply(dists, function(d) lapply(cases, function(cs) adonis_case(d, cs))),
  betadisper = lapply(dists, betadisper_case)
)
writeLines(toJSON(golden, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE),
           file.path(out, "vegan_adonis2.json"))
cat("wrote", file.path(out, "vegan_adonis2.json"), "\n")
