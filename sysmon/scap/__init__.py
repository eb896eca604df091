"""Reading sysdig/Falco .scap capture files as one more event source (see reader.open_scap)."""
