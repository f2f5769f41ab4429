//! Patch-engine scaling with one site: see `pv_bench::scale`.

pv_bench::scale_binary!(1);
