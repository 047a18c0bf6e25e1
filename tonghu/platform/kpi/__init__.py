"""Production analytics: ISO 22400-2 KPIs from summed times and quantities, sector packs, alarm and SPC figures,
and privacy-safe sector benchmarks."""
