# R peers for benchmarks/bench_differential.py (accuracy) and bench_differential_speed.py (speed): DESeq2, edgeR,
# limma-voom, metagenomeSeq, and MaAsLin2's default model loop.
#
# One call:   Rscript benchmarks/peers_r.R METHOD counts.tsv meta.tsv out.tsv   (prints "fit <seconds>")
# Or a loop:  Rscript benchmarks/peers_r.R --serve   (reads "METHOD<TAB>counts<TAB>meta<TAB>out" lines from stdin,
#             answers "ok <seconds> <fit seconds>" or "error <message>" on stdout, the first time including reading
#             and writing the files, the second the fit alone; "ready <seconds>" once the packages are loaded)
#
# counts.tsv: samples x features integer counts, first column the sample id, header = feature ids.
# meta.tsv:   first column the sample id; column `group` (levels A = reference, B); every other column is a
#             covariate adjusted for in each method's design (e.g. `z`, a binary confounder; or age, sex, bmi).
#             A covariate with more than two distinct values that all read as numbers is numeric, else a factor.
# out.tsv:    feature, effect (log2 fold change B vs A, or the method's own scale), p_value, q_value (BH).
#
# Choices (documented in benchmarks/results/differential.md): DESeq2 Wald test with size factors "poscounts"
# (the median-ratio default needs a feature present in every sample), padj without independent filtering;
# edgeR TMM + quasi-likelihood F-test; limma-voom with TMM; metagenomeSeq CSS + fitFeatureModel (zero-inflated
# log-normal; it cannot take covariates, so it runs unadjusted) and CSS + fitZig (adjusted); maaslin2_lm: what
# MaAsLin2 (Mallick et al. 2021) fits by default per feature — total-sum scaling, its LOG transform (log2, zeros
# at half the feature's smallest non-zero value), lm() — MaAsLin2 itself is not installable here (not in Debian,
# no CRAN/Bioconductor access), so this is its model loop without its file handling and plots.

# Packages each method attaches (a one-call run attaches only its own: with Bioconductor's generics attached, R's
# lm() loop runs about twice as slowly, which would flatter gutlink in the speed benchmark).
NEEDS <- list(deseq2 = "DESeq2", edger = "edgeR", limma_voom = c("edgeR", "limma"), metagenomeseq = "metagenomeSeq",
              metagenomeseq_zig = "metagenomeSeq", maaslin2_lm = character())

attach_for <- function(methods) {
  for (pkg in unique(unlist(NEEDS[methods]))) suppressPackageStartupMessages(library(pkg, character.only = TRUE))
}

read_inputs <- function(counts_path, meta_path) {
  counts <- as.matrix(read.delim(counts_path, row.names = 1, check.names = FALSE))
  meta <- read.delim(meta_path, row.names = 1, check.names = FALSE, colClasses = "character")
  meta <- meta[rownames(counts), , drop = FALSE]
  meta$group <- factor(meta$group, levels = c("A", "B"))
  covariates <- setdiff(colnames(meta), "group")
  for (v in covariates) {
    num <- suppressWarnings(as.numeric(meta[[v]]))
    meta[[v]] <- if (!anyNA(num) && length(unique(num)) > 2) num else factor(meta[[v]])
  }
  storage.mode(counts) <- "integer"
  list(counts = t(counts), meta = meta, covariates = covariates)  # features x samples, as Bioconductor wants
}

design_of <- function(d) reformulate(c(d$covariates, "group"))

run_deseq2 <- function(d) {
  dds <- DESeqDataSetFromMatrix(d$counts, d$meta, design_of(d))
  dds <- suppressMessages(DESeq(dds, sfType = "poscounts", quiet = TRUE))
  res <- results(dds, contrast = c("group", "B", "A"), independentFiltering = FALSE)
  data.frame(feature = rownames(res), effect = res$log2FoldChange, p_value = res$pvalue,
             q_value = p.adjust(res$pvalue, "BH"))
}

run_edger <- function(d) {
  y <- edgeR::calcNormFactors(DGEList(d$counts), method = "TMM")
  mm <- model.matrix(design_of(d), d$meta)
  y <- estimateDisp(y, mm)
  fit <- glmQLFit(y, mm)
  tab <- topTags(glmQLFTest(fit, coef = "groupB"), n = Inf, sort.by = "none")$table
  data.frame(feature = rownames(tab), effect = tab$logFC, p_value = tab$PValue, q_value = p.adjust(tab$PValue, "BH"))
}

run_limma_voom <- function(d) {
  y <- edgeR::calcNormFactors(DGEList(d$counts), method = "TMM")
  mm <- model.matrix(design_of(d), d$meta)
  fit <- eBayes(lmFit(voom(y, mm), mm))
  tab <- topTable(fit, coef = "groupB", number = Inf, sort.by = "none")
  data.frame(feature = rownames(tab), effect = tab$logFC, p_value = tab$P.Value, q_value = p.adjust(tab$P.Value, "BH"))
}

css <- function(d) {
  obj <- newMRexperiment(d$counts, phenoData = AnnotatedDataFrame(d$meta))
  cumNorm(obj, p = suppressMessages(cumNormStatFast(obj)))
}

mgs_table <- function(d, tab, p_col) {
  tab <- tab[rownames(d$counts)[rownames(d$counts) %in% rownames(tab)], , drop = FALSE]
  effect <- if ("logFC" %in% colnames(tab)) tab$logFC else tab[, 1]  # MRcoefs names the column after the coef
  data.frame(feature = rownames(tab), effect = effect, p_value = tab[[p_col]],
             q_value = p.adjust(tab[[p_col]], "BH"))
}

# fitFeatureModel (zero-inflated log-normal, the authors' recommended test) takes no covariates ("Can't analyze
# currently" with a third column), so it is run unadjusted even where the setting has a confounder.
run_metagenomeseq <- function(d) {
  obj <- css(d)
  fit <- fitFeatureModel(obj, model.matrix(~ group, d$meta), coef = 2)
  mgs_table(d, MRfulltable(fit, number = Inf, by = 2), "pvalues")
}

# fitZig (zero-inflated Gaussian on log CSS counts) takes covariates: adjusted for them.
run_metagenomeseq_zig <- function(d) {
  obj <- css(d)
  mm <- model.matrix(reformulate(c("group", d$covariates)), d$meta)
  fit <- suppressMessages(fitZig(obj, mm, useCSSoffset = TRUE, control = zigControl(verbose = FALSE)))
  mgs_table(d, MRcoefs(fit, coef = 2, number = Inf, by = 2), "pvalues")
}

run_maaslin2_lm <- function(d) {
  rel <- sweep(d$counts, 2, colSums(d$counts), "/")
  f <- reformulate(c(d$covariates, "group"), response = "expr")
  data <- d$meta  # one data frame, its response replaced per feature
  effect <- p <- numeric(nrow(rel))
  for (j in seq_len(nrow(rel))) {
    x <- rel[j, ]
    x[x == 0] <- min(x[x > 0]) / 2
    data$expr <- log2(x)
    co <- summary(lm(f, data = data))$coefficients["groupB", ]
    effect[j] <- co[[1]]
    p[j] <- co[[4]]
  }
  data.frame(feature = rownames(rel), effect = effect, p_value = p, q_value = p.adjust(p, "BH"))
}

METHODS <- list(deseq2 = run_deseq2, edger = run_edger, limma_voom = run_limma_voom,
                metagenomeseq = run_metagenomeseq, metagenomeseq_zig = run_metagenomeseq_zig,
                maaslin2_lm = run_maaslin2_lm)

# Returns the seconds of the fit alone (reading and writing the files excluded).
run_one <- function(method, counts_path, meta_path, out_path) {
  fn <- METHODS[[method]]
  if (is.null(fn)) stop("unknown method ", method)
  attach_for(method)
  d <- read_inputs(counts_path, meta_path)
  t0 <- proc.time()[["elapsed"]]
  out <- fn(d)
  fit <- proc.time()[["elapsed"]] - t0
  write.table(out, out_path, sep = "\t", quote = FALSE, row.names = FALSE)
  fit
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 1 && args[1] == "--serve") {
  attach_for(names(NEEDS))
  cat("ready", proc.time()[["elapsed"]], "\n")
  flush(stdout())
  con <- file("stdin", open = "r")
  while (length(line <- readLines(con, n = 1)) > 0) {
    parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
    t0 <- proc.time()[["elapsed"]]
    msg <- tryCatch({
      fit <- suppressWarnings(run_one(parts[1], parts[2], parts[3], parts[4]))
      paste("ok", proc.time()[["elapsed"]] - t0, fit)
    }, error = function(e) paste("error", gsub("[\r\n]+", " ", conditionMessage(e))))
    cat(msg, "\n")
    flush(stdout())
  }
} else if (length(args) == 4) {
  cat("fit", run_one(args[1], args[2], args[3], args[4]), "\n")
} else {
  stop("usage: Rscript peers_r.R METHOD counts.tsv meta.tsv out.tsv | --serve")
}
