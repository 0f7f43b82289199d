/*
 *  dendritic_prediction_synapse.h  --  part of salpynn (GPL-2.0-or-later)
 *
 *  Forward plasticity of spiking dendritic microcircuits: at every presynaptic
 *  spike the weight moves by eta times the target's learning signal, the
 *  difference between its somatic firing probability and the one its basal
 *  dendrite predicts (Urbanczik & Senn 2014; Gierlich et al., arXiv:2503.02642).
 */

#ifndef SALPYNN_DENDRITIC_PREDICTION_SYNAPSE_H
#define SALPYNN_DENDRITIC_PREDICTION_SYNAPSE_H

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>

#include "connection.h"
#include "kernel_manager.h"

#include "salpynn_util.h"

#include "sampling_neuron.h"

/* BeginUserDocs: synapse, dendritic prediction, plasticity

Short description
+++++++++++++++++

Dendritic-prediction plasticity onto the basal port of a ``sampling_neuron``.

Description
+++++++++++

When a presynaptic spike with stamp ``t_pre`` passes the synapse, its weight
changes by

    dw = eta * g(t_pre),  g = learning_gate * ( p(u_bar) - p(v_bar + b) )

where ``g`` is the learning signal the target ``sampling_neuron`` stored for
the step that ended at ``t_pre`` (its boxcar averages of somatic state and
basal input over ``avg_window``, see ``sampling_neuron``).  The weight is then
clipped to ``[w_min, w_max]`` and the spike is transmitted with the new
weight, the order of NEST's STDP synapses.  The target must be a
``sampling_neuron`` with ``avg_window > 0``, and the connection must go to its
basal port (the prediction is that of the basal dendrite).

Because NEST delivers a spike to its target before the target advances past
the slice in which the spike was sent, ``g(t_pre)`` is always available: the
update is exact at step resolution for any delay, number of threads or MPI
processes.  ``learning_gate`` on the neuron switches learning on and off at
step resolution; changing ``eta`` between ``Simulate`` calls also works but
then applies to spikes still in flight.

Parameters
++++++++++

=========  ======  ========================================================
 weight    real    Signed weight (default 1.0; in [w_min, w_max])
 eta       real    Learning rate (default 0.01, finite; in the target's
                   weight units, i.e. before weight_scale)
 w_min     real    Lower bound (default -inf)
 w_max     real    Upper bound (default +inf)
=========  ======  ========================================================

Transmits
+++++++++

SpikeEvent

References
++++++++++

Urbanczik R, Senn W (2014). Learning by the dendritic prediction of somatic
spiking. Neuron 81(3):521-528.

Sacramento J, Ponte Costa R, Bengio Y, Senn W (2018). Dendritic cortical
microcircuits approximate the backpropagation algorithm. NeurIPS 31.

See also
++++++++

sampling_neuron, sal_synapse

EndUserDocs */

namespace salpynn
{

void register_dendritic_prediction_synapse( const std::string& name );

template < typename targetidentifierT >
class dendritic_prediction_synapse : public nest::Connection< targetidentifierT >
{
public:
  typedef nest::CommonSynapseProperties CommonPropertiesType;
  typedef nest::Connection< targetidentifierT > ConnectionBase;

  static constexpr nest::ConnectionModelProperties properties
    = nest::ConnectionModelProperties::HAS_DELAY | nest::ConnectionModelProperties::IS_PRIMARY
      | nest::ConnectionModelProperties::SUPPORTS_HPC | nest::ConnectionModelProperties::SUPPORTS_LBL;

  dendritic_prediction_synapse();
  dendritic_prediction_synapse( const dendritic_prediction_synapse& ) = default;
  dendritic_prediction_synapse& operator=( const dendritic_prediction_synapse& ) = default;

  using ConnectionBase::get_delay_steps;
  using ConnectionBase::get_rport;
  using ConnectionBase::get_target;

  void get_status( Dictionary& d ) const;
  void set_status( const Dictionary& d, nest::ConnectorModel& cm );
  bool send( nest::Event& e, size_t tid, const CommonPropertiesType& cp );

  class ConnTestDummyNode : public nest::ConnTestDummyNodeBase
  {
  public:
    using nest::ConnTestDummyNodeBase::handles_test_event;
    size_t
    handles_test_event( nest::SpikeEvent&, size_t ) override
    {
      return nest::invalid_port;
    }
  };

  void
  check_connection( nest::Node& s, nest::Node& t, size_t receptor_type, const CommonPropertiesType& )
  {
    check_weight_in_bounds( "dendritic_prediction_synapse", weight_, w_min_, w_max_ );
    if ( dynamic_cast< sampling_neuron* >( &t ) == nullptr )
    {
      throw nest::IllegalConnection( "dendritic_prediction_synapse: the target must be a sampling_neuron (it "
                                     "reads the neuron's learning signal); got "
                                     + t.get_name() + "." );
    }
    if ( receptor_type != 0 and receptor_type != sampling_neuron::BASAL )
    {
      throw nest::IllegalConnection( "dendritic_prediction_synapse: connects to the basal port of a "
                                     "sampling_neuron only (receptor_type 0 or "
                                     "1); got receptor_type "
                                     + std::to_string( receptor_type ) + "." );
    }
    ConnTestDummyNode dummy_target;
    ConnectionBase::check_connection_( dummy_target, s, t, receptor_type );
  }

  void
  set_weight( double w )
  {
    weight_ = w;
  }

private:
  double weight_;
  double eta_;
  double w_min_;
  double w_max_;
};

template < typename targetidentifierT >
constexpr nest::ConnectionModelProperties dendritic_prediction_synapse< targetidentifierT >::properties;

template < typename targetidentifierT >
dendritic_prediction_synapse< targetidentifierT >::dendritic_prediction_synapse()
  : ConnectionBase()
  , weight_( 1.0 )
  , eta_( 0.01 )
  , w_min_( -std::numeric_limits< double >::infinity() )
  , w_max_( std::numeric_limits< double >::infinity() )
{
}

template < typename targetidentifierT >
inline bool
dendritic_prediction_synapse< targetidentifierT >::send(
  nest::Event& e, size_t tid, const CommonPropertiesType& )
{
  // check_connection() admits sampling_neuron targets only.
  sampling_neuron* target = static_cast< sampling_neuron* >( get_target( tid ) );
  if ( eta_ != 0.0 )
  {
    weight_ += eta_ * target->learning_signal( e.get_stamp().get_steps() );
    if ( weight_ < w_min_ )
    {
      weight_ = w_min_;
    }
    else if ( weight_ > w_max_ )
    {
      weight_ = w_max_;
    }
  }
  e.set_receiver( *target );
  e.set_weight( weight_ );
  e.set_delay_steps( get_delay_steps() );
  e.set_rport( get_rport() );
  e();
  return true;
}

template < typename targetidentifierT >
void
dendritic_prediction_synapse< targetidentifierT >::get_status( Dictionary& d ) const
{
  ConnectionBase::get_status( d );
  d[ "weight" ] = weight_;
  d[ "eta" ] = eta_;
  d[ "w_min" ] = w_min_;
  d[ "w_max" ] = w_max_;
  d[ "size_of" ] = static_cast< long >( sizeof( *this ) );
}

template < typename targetidentifierT >
void
dendritic_prediction_synapse< targetidentifierT >::set_status( const Dictionary& d, nest::ConnectorModel& cm )
{
  double weight = weight_;
  double eta = eta_;
  double w_min = w_min_;
  double w_max = w_max_;
  d.update_value( "weight", weight );
  d.update_value( "eta", eta );
  d.update_value( "w_min", w_min );
  d.update_value( "w_max", w_max );
  if ( not std::isfinite( eta ) )
  {
    throw nest::BadProperty(
      "dendritic_prediction_synapse: eta must be finite; got " + format_number( eta ) + "." );
  }
  if ( std::isnan( w_min ) or std::isnan( w_max ) or w_min > w_max )
  {
    throw nest::BadProperty( "dendritic_prediction_synapse: w_min must be <= w_max; got w_min = "
                             + format_number( w_min ) + ", w_max = " + format_number( w_max ) + "." );
  }
  check_weight_in_bounds( "dendritic_prediction_synapse", weight, w_min, w_max );
  ConnectionBase::set_status( d, cm );
  weight_ = weight;
  eta_ = eta;
  w_min_ = w_min;
  w_max_ = w_max;
}

} // namespace salpynn

#endif // SALPYNN_DENDRITIC_PREDICTION_SYNAPSE_H
