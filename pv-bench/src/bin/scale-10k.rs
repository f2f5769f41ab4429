//! Patch-engine scaling with 10000 sites: see `pv_bench::scale`.

pv_bench::scale_binary!(10000);
