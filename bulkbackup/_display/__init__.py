"""How frames and runs look to a person: styled frames and the progress display."""
