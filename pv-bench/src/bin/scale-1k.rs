//! Patch-engine scaling with 1000 sites: see `pv_bench::scale`.

pv_bench::scale_binary!(1000);
