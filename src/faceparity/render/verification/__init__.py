"""The 1:1 verification audit for people: its table, report sections, charts and sentence."""
