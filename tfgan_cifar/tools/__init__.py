"""Tools over the library and the commands: benchmarks, sweep, zoo, report and results records.
Nothing outside tools/ imports them."""
