//! Patch-engine scaling with 100000 sites: see `pv_bench::scale`.

pv_bench::scale_binary!(100000);
