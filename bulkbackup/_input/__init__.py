"""Reading what the user wants: changes files and frames, normalised."""
