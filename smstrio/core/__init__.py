"""The pure core: message model and codec, statistics, histograms, config. No I/O, no service client."""
