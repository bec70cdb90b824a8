# Peer for the M4 benchmark: R's forecast package on M4 Hourly (horizon 48, frequency 24).
# Usage: Rscript bench/forecast/r-peers.R METHOD TRAIN_WIDE.csv OUT.csv CORES
#   METHOD: ets | auto.arima | thetaf | stlf (stlf uses msts(24, 168) like the engine)
suppressPackageStartupMessages({ library(forecast); library(parallel) })
args <- commandArgs(trailingOnly = TRUE)
method <- args[1]; train_file <- args[2]; out_file <- args[3]; cores <- as.integer(args[4])
h <- 48
raw <- read.csv(train_file, stringsAsFactors = FALSE)
one <- function(i) {
  y <- as.numeric(raw[i, -1]); y <- y[!is.na(y)]
  x <- ts(y, frequency = 24)
  fc <- switch(method,
    ets = forecast(ets(x), h = h, level = 95),
    auto.arima = forecast(auto.arima(x), h = h, level = 95),
    thetaf = thetaf(x, h = h, level = 95),
    stlf = stlf(msts(y, seasonal.periods = c(24, 168)), h = h, level = 95))
  data.frame(series_id = raw[i, 1], step = 1:h, mean = as.numeric(fc$mean),
             lo95 = as.numeric(fc$lower[, 1]), hi95 = as.numeric(fc$upper[, 1]))
}
res <- mclapply(seq_len(nrow(raw)), one, mc.cores = cores)
bad <- vapply(res, function(r) inherits(r, "try-error"), logical(1))
if (any(bad)) stop(paste("failed series:", sum(bad)))
write.csv(do.call(rbind, res), out_file, row.names = FALSE, quote = FALSE)
