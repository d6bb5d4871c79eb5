"""The book's tooling, kept apart from what the chapters teach: building the book (`build`), its Sphinx extension
(`sphinx_assets`), the browser check of the built pages (`sitecheck`), and the benchmarks that print the budgets
(`bench_build`, `bench_chapters`, `bench_pipeline`, `bench_gguf_load`)."""
