"""The one load path of every feed: ``read`` → ``validate`` → ``stage`` → ``audit`` → ``publish``,
driven by ``runner`` from a feed's ``spec`` (data) and its domain hooks. Nothing here imports
``feeds``; this package's ``__init__`` imports nothing, so ``spec`` stays import-light."""
