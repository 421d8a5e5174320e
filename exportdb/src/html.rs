//! The static HTML catalogue.
