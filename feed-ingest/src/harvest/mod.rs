//! Harvesting arXiv's OAI-PMH interface into the JSON Lines that `docclass train` reads: fresh labelled
//! papers (categories as codes) for a corpus that ends where the shared one does.

mod page;
mod run;

pub use page::{HarvestedPaper, MetadataFormat, Page, PageError, parse_page};
pub use run::{Harvest, HarvestError, HarvestProgress, HarvestReport, harvest};
