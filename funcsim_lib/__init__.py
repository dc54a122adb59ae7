"""funcsim: same accuracy and loss, different functions."""
