# R peers timed for benchmarks/bench_differential_speed.py (speed only; accuracy is in peers_r.R).
#
#     Rscript benchmarks/speed_peers.R METHOD counts.tsv meta.tsv
#
# counts.tsv: samples x features counts, first column the sample id; meta.tsv: first column the sample id, then
# group, age, sex, bmi. Prints "seconds <s>" for the fit alone (reading the files is not timed), formula
# ~ group + age + sex + bmi in every method.
#
# maaslin2_lm_loop: what MaAsLin2 (Mallick et al. 2021) does by default, per feature: total-sum scaling, its LOG
#   transform (log2, zeros replaced by half the feature's smallest non-zero value), lm() and summary(); MaAsLin2
#   itself is not installable here (not in Debian, no CRAN/Bioconductor access), so this is its model loop
#   without its file handling and plots — a lower bound on its run time.
# deseq2: DESeq(sfType = "poscounts") + results(); edger: TMM, estimateDisp, glmQLFit, glmQLFTest;
# limma_voom: TMM, voom, lmFit, eBayes.

args <- commandArgs(trailingOnly = TRUE)
method <- args[[1]]
counts <- as.matrix(read.delim(args[[2]], row.names = 1, check.names = FALSE))
meta <- read.delim(args[[3]], row.names = 1, check.names = FALSE)
meta <- meta[rownames(counts), , drop = FALSE]
meta$group <- factor(meta$group)
meta$sex <- factor(meta$sex)
storage.mode(counts) <- "integer"

maaslin2_lm_loop <- function() {
  rel <- counts / rowSums(counts)
  out <- vector("list", ncol(rel))
  for (j in seq_len(ncol(rel))) {
    x <- rel[, j]
    x[x == 0] <- min(x[x > 0]) / 2
    d <- cbind(meta, expr = log2(x))
    fit <- lm(expr ~ group + age + sex + bmi, data = d)
    out[[j]] <- summary(fit)$coefficients[2, ]
  }
  p <- vapply(out, function(r) r[[4]], numeric(1))
  p.adjust(p, "BH")
}

deseq2 <- function() {
  suppressPackageStartupMessages(library(DESeq2))
  dds <- DESeqDataSetFromMatrix(t(counts), meta, ~ group + age + sex + bmi)
  dds <- suppressMessages(DESeq(dds, sfType = "poscounts", quiet = TRUE))
  results(dds, name = resultsNames(dds)[2], independentFiltering = FALSE)
}

design <- function() model.matrix(~ group + age + sex + bmi, meta)

edger <- function() {
  suppressPackageStartupMessages(library(edgeR))
  y <- calcNormFactors(DGEList(t(counts)), method = "TMM")
  mm <- design()
  y <- estimateDisp(y, mm)
  topTags(glmQLFTest(glmQLFit(y, mm), coef = 2), n = Inf, sort.by = "none")
}

limma_voom <- function() {
  suppressPackageStartupMessages({library(edgeR); library(limma)})
  y <- calcNormFactors(DGEList(t(counts)), method = "TMM")
  mm <- design()
  topTable(eBayes(lmFit(voom(y, mm), mm)), coef = 2, number = Inf, sort.by = "none")
}

# load the packages before the clock starts
if (method %in% c("deseq2")) suppressPackageStartupMessages(library(DESeq2))
if (method %in% c("edger", "limma_voom")) suppressPackageStartupMessages({library(edgeR); library(limma)})
fn <- switch(method, maaslin2_lm_loop = maaslin2_lm_loop, deseq2 = deseq2, edger = edger, limma_voom = limma_voom,
             stop("unknown method ", method))
t <- system.time(invisible(fn()))[["elapsed"]]
cat(sprintf("seconds %.3f\n", t))
