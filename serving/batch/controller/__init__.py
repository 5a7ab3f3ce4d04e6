"""The batch controller: public jobs API, durable job store, scheduler, merge and job logs."""
