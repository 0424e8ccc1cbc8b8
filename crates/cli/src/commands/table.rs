//! `table create`: create the DynamoDB table with its indexes (for DynamoDB Local or a
//! first deployment without SAM).

use crate::output::outln;
use anyhow::Result;

/// `table` subcommands.
#[derive(clap::Subcommand)]
pub enum TableCommand {
    /// Create the table and its GSIs (idempotent). Endpoint from AWS_ENDPOINT_URL etc.
    ///
    /// Example: AWS_ENDPOINT_URL=http://127.0.0.1:8000 audience-stream table create --table audience
    Create {
        /// Table name.
        #[arg(long)]
        table: String,
    },
}

/// Runs a `table` subcommand.
pub async fn run(cmd: TableCommand) -> Result<()> {
    match cmd {
        TableCommand::Create { table } => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            audience_store_dynamodb::create_table(&client, &table).await?;
            outln!("table {table} is ready")?;
            Ok(())
        }
    }
}
