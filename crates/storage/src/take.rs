//! Reordering a batch's columns for the sort before a flush.
//!
//! arrow's `take` copies a list or map column's children one row at a time
//! through `MutableArrayData`, growing every child buffer as it goes: for the
//! spans' events, links and attribute maps that was most of a flush's sort, and
//! the growth (reallocating and copying ever larger buffers) most of that.
//! [`take_nested`] instead turns the row indices of a list or map into the
//! indices of its elements and takes the children as flat arrays, whose `take`
//! sizes each buffer once. The result equals `arrow::compute::take`'s.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StructArray, UInt32Array};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::take;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// `array`'s rows in the order of `indices` (which must hold no nulls).
pub fn take_nested(array: &dyn Array, indices: &UInt32Array) -> Result<ArrayRef, ArrowError> {
    if indices.null_count() > 0 {
        return take(array, indices, None);
    }
    match array.data_type() {
        DataType::List(field) => {
            let list = array.as_list::<i32>();
            let (offsets, elements) = expand(list.offsets(), indices)?;
            let values = take_nested(list.values().as_ref(), &elements)?;
            let nulls = take_nulls(list.nulls(), indices);
            Ok(Arc::new(ListArray::try_new(
                Arc::clone(field),
                offsets,
                values,
                nulls,
            )?))
        }
        DataType::Map(field, sorted) => {
            let map = array.as_map();
            let (offsets, elements) = expand(map.offsets(), indices)?;
            let entries = take_nested(map.entries(), &elements)?;
            let nulls = take_nulls(map.nulls(), indices);
            Ok(Arc::new(MapArray::try_new(
                Arc::clone(field),
                offsets,
                entries.as_struct().clone(),
                nulls,
                *sorted,
            )?))
        }
        DataType::Struct(fields) => {
            let parent = array.as_struct();
            let columns = parent
                .columns()
                .iter()
                .map(|column| take_nested(column.as_ref(), indices))
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = take_nulls(parent.nulls(), indices);
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                nulls,
            )?))
        }
        _ => take(array, indices, None),
    }
}

/// The offsets of the taken lists, and the indices of their elements in the
/// child array.
fn expand(
    offsets: &OffsetBuffer<i32>,
    indices: &UInt32Array,
) -> Result<(OffsetBuffer<i32>, UInt32Array), ArrowError> {
    let range = |row: u32| -> Result<(u32, u32), ArrowError> {
        let row = row as usize;
        match (offsets.get(row), offsets.get(row + 1)) {
            (Some(&start), Some(&end)) => Ok((start as u32, end as u32)),
            _ => Err(ArrowError::InvalidArgumentError(format!(
                "take index {row} is out of bounds for {} rows",
                offsets.len() - 1
            ))),
        }
    };
    let mut taken = Vec::with_capacity(indices.len() + 1);
    taken.push(0i32);
    let mut total = 0usize;
    for &row in indices.values() {
        let (start, end) = range(row)?;
        total += (end - start) as usize;
        taken.push(i32::try_from(total).map_err(|_| ArrowError::OffsetOverflowError(total))?);
    }
    let mut elements = Vec::with_capacity(total);
    for &row in indices.values() {
        let (start, end) = range(row)?;
        elements.extend(start..end);
    }
    Ok((
        OffsetBuffer::new(ScalarBuffer::from(taken)),
        UInt32Array::from(elements),
    ))
}

fn take_nulls(nulls: Option<&NullBuffer>, indices: &UInt32Array) -> Option<NullBuffer> {
    let nulls = nulls?;
    let taken = NullBuffer::new(
        indices
            .values()
            .iter()
            .map(|&row| nulls.is_valid(row as usize))
            .collect(),
    );
    (taken.null_count() > 0).then_some(taken)
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Int64Builder, ListBuilder, MapBuilder, StringBuilder, StructBuilder,
        TimestampNanosecondBuilder,
    };
    use arrow::datatypes::{Field, Fields, TimeUnit};
    use proptest::prelude::*;

    use super::*;

    /// A row: `None` for a null list, else its elements, each an optional
    /// name and a map of attributes.
    type Row = Option<Vec<(Option<String>, Vec<(String, Option<String>)>)>>;

    fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
        MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
    }

    fn append_map(
        builder: &mut MapBuilder<StringBuilder, StringBuilder>,
        pairs: &[(String, Option<String>)],
    ) {
        for (key, value) in pairs {
            builder.keys().append_value(key);
            builder.values().append_option(value.as_deref());
        }
        builder.append(true).expect("map");
    }

    /// The columns of the spans' shape: a list of structs holding a time, a
    /// name and a map; a top-level map; a flat column.
    fn columns(rows: &[Row]) -> Vec<ArrayRef> {
        let map_field = Field::new_map(
            "attributes",
            "entries",
            Field::new("keys", DataType::Utf8, false),
            Field::new("values", DataType::Utf8, true),
            false,
            false,
        );
        let fields = Fields::from(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("name", DataType::Utf8, true),
            map_field,
        ]);
        let mut events = ListBuilder::new(StructBuilder::new(
            fields,
            vec![
                Box::new(TimestampNanosecondBuilder::new()),
                Box::new(StringBuilder::new()),
                Box::new(map_builder()),
            ],
        ));
        let mut top_map = map_builder();
        let mut flat = Int64Builder::new();
        for (n, row) in rows.iter().enumerate() {
            match row {
                None => events.append(false),
                Some(elements) => {
                    for (i, (name, pairs)) in elements.iter().enumerate() {
                        let item = events.values();
                        item.field_builder::<TimestampNanosecondBuilder>(0)
                            .expect("time")
                            .append_value(i as i64);
                        item.field_builder::<StringBuilder>(1)
                            .expect("name")
                            .append_option(name.as_deref());
                        append_map(
                            item.field_builder::<MapBuilder<StringBuilder, StringBuilder>>(2)
                                .expect("map"),
                            pairs,
                        );
                        item.append(true);
                    }
                    events.append(true);
                }
            }
            append_map(
                &mut top_map,
                row.as_ref()
                    .and_then(|e| e.first())
                    .map_or(&[][..], |e| &e.1[..]),
            );
            flat.append_value(n as i64);
        }
        vec![
            Arc::new(events.finish()),
            Arc::new(top_map.finish()),
            Arc::new(flat.finish()),
        ]
    }

    fn rows() -> impl Strategy<Value = Vec<Row>> {
        let pair = ("[a-c]{1,3}", proptest::option::of("[x-z]{0,4}"));
        let element = (
            proptest::option::of("[a-z]{0,6}"),
            proptest::collection::vec(pair, 0..4),
        );
        proptest::collection::vec(
            proptest::option::weighted(0.9, proptest::collection::vec(element, 0..4)),
            0..40,
        )
    }

    proptest! {
        /// Any order of any rows, whole or sliced, comes out as arrow's
        /// `take` would give it.
        #[test]
        fn equals_arrow_take(
            rows in rows(),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
            slice_from in any::<prop::sample::Index>(),
        ) {
            for column in columns(&rows) {
                let offset = if rows.is_empty() { 0 } else { slice_from.index(rows.len()) };
                let column = column.slice(offset, rows.len() - offset);
                if column.is_empty() {
                    continue;
                }
                let indices = UInt32Array::from_iter_values(
                    order.iter().map(|i| i.index(column.len()) as u32),
                );
                let ours = take_nested(column.as_ref(), &indices).expect("takes");
                let arrows = take(column.as_ref(), &indices, None).expect("takes");
                prop_assert_eq!(ours.to_data(), arrows.to_data());
            }
        }
    }

    #[test]
    fn an_index_out_of_bounds_is_an_error() {
        let column = &columns(&[Some(vec![])])[0];
        let indices = UInt32Array::from(vec![1]);
        assert!(take_nested(column.as_ref(), &indices).is_err());
    }
}
