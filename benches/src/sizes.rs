//! Where the bytes of Sluice's Parquet files go: for the end-to-end driver,
//! which reports bytes on disk per span next to OTLP's, the same bytes split
//! by column, read from the files' footers (each column chunk's compressed
//! size, page headers included) so that a run shows which columns the size
//! target hangs on without another tool.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use parquet::file::reader::{FileReader as _, SerializedFileReader};

/// The Parquet files under a directory: their bytes in all and by column.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParquetSizes {
    /// The files' lengths, summed.
    pub file_bytes: u64,
    /// Compressed bytes by leaf column path (`SpanAttributes.key_value.value`),
    /// summed over the files' row groups.
    pub columns: BTreeMap<String, u64>,
}

impl ParquetSizes {
    /// Every `*.parquet` file under `dir`, at any depth; none when `dir`
    /// does not exist.
    pub fn under(dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let mut sizes = Self::default();
        sizes.add_dir(dir)?;
        Ok(sizes)
    }

    fn add_dir(&mut self, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for entry in entries {
            let path = entry
                .map_err(|e| format!("reading {}: {e}", dir.display()))?
                .path();
            if path.is_dir() {
                self.add_dir(&path)?;
            } else if path.extension().is_some_and(|e| e == "parquet") {
                self.add_file(&path)?;
            }
        }
        Ok(())
    }

    fn add_file(&mut self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let in_file = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = File::open(path).map_err(|e| in_file(&e))?;
        self.file_bytes += file.metadata().map_err(|e| in_file(&e))?.len();
        let reader = SerializedFileReader::new(file).map_err(|e| in_file(&e))?;
        for row_group in reader.metadata().row_groups() {
            for column in row_group.columns() {
                let bytes = u64::try_from(column.compressed_size()).unwrap_or(0);
                *self
                    .columns
                    .entry(column.column_path().string())
                    .or_default() += bytes;
            }
        }
        Ok(())
    }

    /// What is in no column chunk: footers, bloom filters, column and
    /// offset indices, the magic bytes.
    pub fn structure_bytes(&self) -> u64 {
        self.file_bytes
            .saturating_sub(self.columns.values().sum::<u64>())
    }

    /// The `top` largest columns, largest first, then the rest as one
    /// figure and the files' structure as another, all per `records`:
    /// `"SpanAttributes.key_value.value 14.2, SpanId 8.1, ..., other
    /// columns 3.3, footers and filters 0.5"`.
    pub fn per_record(&self, records: u64, top: usize) -> String {
        let per = |bytes: u64| bytes as f64 / records.max(1) as f64;
        let mut columns: Vec<(&String, &u64)> = self.columns.iter().collect();
        columns.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let rest: u64 = columns.iter().skip(top).map(|(_, bytes)| **bytes).sum();
        let mut parts: Vec<String> = columns
            .iter()
            .take(top)
            .map(|(path, bytes)| format!("{path} {:.1}", per(**bytes)))
            .collect();
        parts.push(format!("other columns {:.1}", per(rest)));
        parts.push(format!(
            "footers and filters {:.1}",
            per(self.structure_bytes())
        ));
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::record_batch::RecordBatch;
    use parquet::arrow::ArrowWriter;

    use super::*;

    /// A file of `rows` rows: a column of distinct strings (large) and one
    /// of a repeated number (small).
    fn write(path: &Path, rows: usize) {
        let ids: Vec<String> = (0..rows).map(|i| format!("{:032x}", i * 7919)).collect();
        let batch = RecordBatch::try_from_iter([
            ("Id", Arc::new(StringArray::from(ids)) as ArrayRef),
            (
                "Same",
                Arc::new(Int64Array::from(vec![42; rows])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut writer =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn the_files_bytes_are_their_columns_and_their_structure() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("date=2026-01-01/hour=00");
        std::fs::create_dir_all(&nested).unwrap();
        write(&dir.path().join("a.parquet"), 1000);
        write(&nested.join("b.parquet"), 3000);
        std::fs::write(nested.join("notes.txt"), b"not parquet").unwrap();

        let sizes = ParquetSizes::under(dir.path()).unwrap();
        let on_disk: u64 = ["a.parquet", "date=2026-01-01/hour=00/b.parquet"]
            .iter()
            .map(|p| std::fs::metadata(dir.path().join(p)).unwrap().len())
            .sum();
        assert_eq!(sizes.file_bytes, on_disk);
        assert_eq!(
            sizes.columns.keys().collect::<Vec<_>>(),
            ["Id", "Same"],
            "one entry per column, summed over the files"
        );
        assert!(sizes.columns["Id"] > 10 * sizes.columns["Same"]);
        let structure = sizes.structure_bytes();
        assert!(structure > 0 && structure < on_disk / 4, "{structure}");
        assert_eq!(
            sizes.columns.values().sum::<u64>() + structure,
            sizes.file_bytes
        );

        let per = |bytes: u64| bytes as f64 / 4000.0;
        assert_eq!(
            sizes.per_record(4000, 1),
            format!(
                "Id {:.1}, other columns {:.1}, footers and filters {:.1}",
                per(sizes.columns["Id"]),
                per(sizes.columns["Same"]),
                per(structure)
            )
        );
    }

    #[test]
    fn a_file_that_is_not_parquet_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("torn.parquet");
        std::fs::write(&bad, b"PAR1 not a footer").unwrap();
        let error = ParquetSizes::under(dir.path()).unwrap_err().to_string();
        assert!(error.starts_with(&bad.display().to_string()), "{error}");
    }

    #[test]
    fn a_missing_directory_holds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = ParquetSizes::under(&dir.path().join("absent")).unwrap();
        assert_eq!(sizes, ParquetSizes::default());
        assert_eq!(
            sizes.per_record(0, 3),
            "other columns 0.0, footers and filters 0.0"
        );
    }
}
