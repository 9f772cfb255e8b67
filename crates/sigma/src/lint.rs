//! Rule linting.
