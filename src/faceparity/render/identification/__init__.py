"""The 1:N identification audit for people: its tables, report section and charts."""
